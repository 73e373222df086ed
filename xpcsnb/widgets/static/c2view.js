// C2View front end (anywidget ESM): draws uint8 codes through a colour table on a canvas,
// with round ticks on both axes, a labelled colour bar, colour-limit inputs, zoom/pan and PNG export.
// Codes 0..254 map linearly onto [vmin, vmax]; code 255 is NaN (grey).
// Row 0 of the image is the first t1 of the window and is drawn at the bottom (origin lower).
// Zoom/pan only change the `window` trait; the kernel re-samples the visible window.

const NAN_CODE = 255;
const TOP_CODE = 254;
const NAN_RGB = [150, 150, 150];

function asBytes(v) {
  if (!v) return new Uint8Array(0);
  if (v instanceof DataView) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  return new Uint8Array(0);
}

function asFloat32(v) {
  const b = asBytes(v);
  if (b.length === 0 || b.length % 4 !== 0) return null;
  return new Float32Array(b.slice().buffer); // copy: the view may be unaligned
}

function fmt(x) {
  if (x === null || x === undefined || Number.isNaN(x)) return "NaN";
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return x.toExponential(3);
  return String(Number(x.toPrecision(5)));
}

// Round tick values (1, 2, 2.5, 5 × 10^k steps) inside [lo, hi].
function niceTicks(lo, hi, n) {
  if (!(Number.isFinite(lo) && Number.isFinite(hi)) || hi <= lo) return Number.isFinite(lo) ? [lo] : [];
  const raw = (hi - lo) / Math.max(n, 1);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const out = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + 1e-9 * step; v += step) {
    out.push(Number(v.toPrecision(12)));
  }
  return out;
}

function tickText(v) {
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(1);
  return String(Number(v.toPrecision(6)));
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// RGB table (255 entries, one per code 0..254) of the current colormap.
function codeTable(model) {
  const names = model.get("colormaps");
  const luts = asBytes(model.get("luts"));
  let k = names.indexOf(model.get("colormap"));
  if (k < 0) k = 0;
  const table = new Uint8Array((TOP_CODE + 1) * 3);
  if (luts.length < (k + 1) * 768) {  // no table: grey ramp
    for (let c = 0; c <= TOP_CODE; c++) table.fill(Math.round((c * 255) / TOP_CODE), 3 * c, 3 * c + 3);
    return table;
  }
  for (let c = 0; c <= TOP_CODE; c++) {
    const e = k * 768 + 3 * Math.round((c * 255) / TOP_CODE);
    table[3 * c] = luts[e];
    table[3 * c + 1] = luts[e + 1];
    table[3 * c + 2] = luts[e + 2];
  }
  return table;
}

// Fraction (0..1, along the displayed pixels) of value v on a grid of pixel centres t.
function frac(t, v) {
  const n = t.length;
  if (n < 2) return 0.5;
  return (0.5 + ((v - t[0]) / (t[n - 1] - t[0])) * (n - 1)) / n;
}

function render({ model, el: root }) {
  const box = el("div", "xpcsnb-c2view");
  const head = el("div", "xpcsnb-c2view-head");
  const title = el("span", "xpcsnb-c2view-title");
  const phiLabel = el("label", "xpcsnb-c2view-control", "angle ");
  const phiSelect = el("select", "xpcsnb-c2view-phi");
  phiLabel.appendChild(phiSelect);
  const cmapLabel = el("label", "xpcsnb-c2view-control", "colours ");
  const cmapSelect = el("select", "xpcsnb-c2view-cmap");
  cmapLabel.appendChild(cmapSelect);
  const limLabel = el("span", "xpcsnb-c2view-control xpcsnb-c2view-limits", "limits ");
  const vminInput = el("input", "xpcsnb-c2view-vmin");
  const vmaxInput = el("input", "xpcsnb-c2view-vmax");
  for (const i of [vminInput, vmaxInput]) { i.type = "text"; i.size = 7; }
  const autoButton = el("button", "xpcsnb-c2view-auto", "auto");
  autoButton.title = "1st–99th percentiles off the diagonal";
  limLabel.append(vminInput, " – ", vmaxInput, " ", autoButton);
  const resetButton = el("button", "xpcsnb-c2view-reset", "⤢ full view");
  resetButton.title = "zoom: mouse wheel; pan: drag; full view: double-click or this button";
  const pngButton = el("button", "xpcsnb-c2view-png", "PNG");
  pngButton.title = "download this view as a PNG figure";
  head.append(title, phiLabel, cmapLabel, limLabel, resetButton, pngButton);

  const plot = el("div", "xpcsnb-c2view-plot");
  const yName = el("div", "xpcsnb-c2view-yname");
  const yTicks = el("div", "xpcsnb-c2view-yticks");
  const wrap = el("div", "xpcsnb-c2view-wrap");
  const canvas = el("canvas", "xpcsnb-c2view-canvas");
  wrap.appendChild(canvas);
  const cbarBox = el("div", "xpcsnb-c2view-cbar");
  const cbar = el("canvas", "xpcsnb-c2view-cbar-canvas");
  const cbarTicks = el("div", "xpcsnb-c2view-cbar-ticks");
  const cbarName = el("div", "xpcsnb-c2view-cbar-label");
  cbarBox.append(cbar, cbarTicks, cbarName);
  const xTicks = el("div", "xpcsnb-c2view-xticks");
  const xName = el("div", "xpcsnb-c2view-xname");
  plot.append(yName, yTicks, wrap, cbarBox, el("div", ""), el("div", ""), xTicks, el("div", ""),
    el("div", ""), el("div", ""), xName, el("div", ""));

  const readout = el("div", "xpcsnb-c2view-readout");
  const note = el("div", "xpcsnb-c2view-note");
  box.append(head, plot, readout, note);
  root.appendChild(box);

  const ctx = canvas.getContext("2d");
  const cctx = cbar.getContext("2d");
  let values = null;
  let requests = 0;

  function hint() {
    readout.textContent = `hover the image for t1, t2 and ${model.get("label")}; wheel: zoom, drag: pan`;
  }

  function drawImage() {
    const [h, w] = model.get("shape");
    const codes = asBytes(model.get("image"));
    if (!(h > 0 && w > 0) || codes.length !== h * w) return;
    canvas.width = w;
    canvas.height = h;
    const table = codeTable(model);
    const img = ctx.createImageData(w, h);
    const px = img.data;
    for (let r = 0; r < h; r++) {
      const src = (h - 1 - r) * w;
      let dst = r * w * 4;
      for (let c = 0; c < w; c++, dst += 4) {
        const code = codes[src + c];
        if (code === NAN_CODE) {
          px[dst] = NAN_RGB[0]; px[dst + 1] = NAN_RGB[1]; px[dst + 2] = NAN_RGB[2];
        } else {
          const e = 3 * code;
          px[dst] = table[e]; px[dst + 1] = table[e + 1]; px[dst + 2] = table[e + 2];
        }
        px[dst + 3] = 255;
      }
    }
    ctx.putImageData(img, 0, 0);
    drawColorbar(table);
  }

  function drawColorbar(table) {
    const n = TOP_CODE + 1;
    cbar.width = 1;
    cbar.height = n;
    const img = cctx.createImageData(1, n);
    for (let c = 0; c < n; c++) {
      const dst = 4 * (n - 1 - c);
      img.data[dst] = table[3 * c]; img.data[dst + 1] = table[3 * c + 1]; img.data[dst + 2] = table[3 * c + 2];
      img.data[dst + 3] = 255;
    }
    cctx.putImageData(img, 0, 0);
  }

  function layout() {
    const size = model.get("size");
    const [h, w] = model.get("shape");
    canvas.style.aspectRatio = h > 0 && w > 0 ? `${w} / ${h}` : "1 / 1";
    plot.style.gridTemplateColumns = `1.2em auto minmax(80px, ${size}px) auto`;
    box.style.maxWidth = `${size + 190}px`;
  }

  function placeTicks(container, t, vertical) {
    const ticks = niceTicks(t[0], t[t.length - 1], 6);
    container.replaceChildren(...ticks.map((v) => {
      const s = el("span", "xpcsnb-c2view-tick", tickText(v));
      const f = frac(t, v);
      if (vertical) s.style.top = `${(1 - f) * 100}%`;
      else s.style.left = `${f * 100}%`;
      return s;
    }));
    return ticks;
  }

  function axes() {
    const t1 = model.get("t1");
    const t2 = model.get("t2");
    const u = model.get("time_unit");
    const unit = u ? ` [${u}]` : "";
    yName.textContent = `t1${unit}`;
    xName.textContent = `t2${unit}`;
    if (t1.length) placeTicks(yTicks, t1, true);
    if (t2.length) placeTicks(xTicks, t2, false);
  }

  function limits() {
    const vmin = model.get("vmin");
    const vmax = model.get("vmax");
    vminInput.value = fmt(vmin);
    vmaxInput.value = fmt(vmax);
    vminInput.classList.remove("xpcsnb-c2view-bad");
    vmaxInput.classList.remove("xpcsnb-c2view-bad");
    const ticks = niceTicks(vmin, vmax, 5);
    cbarTicks.replaceChildren(...ticks.map((v) => {
      const s = el("span", "xpcsnb-c2view-tick", tickText(v));
      s.style.top = `${(1 - (v - vmin) / (vmax - vmin)) * 100}%`;
      return s;
    }));
    const unit = model.get("unit");
    cbarName.textContent = `${model.get("label")}${unit ? ` [${unit}]` : ""}`;
  }

  function fullTitle() {
    const phi = model.get("phi");
    const parts = [model.get("title")];
    if (phi.length) parts.push(`φ = ${fmt(phi[model.get("phi_index")])}°`);
    const q = model.get("q");
    if (q !== null && q !== undefined) parts.push(`q = ${fmt(q)} Å⁻¹`);
    return parts.filter((p) => p).join(", ");
  }

  function phiOptions() {
    const phi = model.get("phi");
    phiSelect.replaceChildren(...phi.map((p, k) => {
      const o = el("option", "", `φ = ${fmt(p)}°`);
      o.value = String(k);
      return o;
    }));
    phiSelect.value = String(model.get("phi_index"));
    phiSelect.disabled = phi.length < 2;
  }

  function cmapOptions() {
    cmapSelect.replaceChildren(...model.get("colormaps").map((name) => {
      const o = el("option", "", name);
      o.value = name;
      return o;
    }));
    cmapSelect.value = model.get("colormap");
  }

  function texts() {
    title.textContent = fullTitle();
    note.textContent = model.get("note");
    note.style.display = model.get("note") ? "" : "none";
  }

  function onImage() {
    values = asFloat32(model.get("values"));
    layout();
    drawImage();
  }

  function cell(ev) {
    const [h, w] = model.get("shape");
    const rect = canvas.getBoundingClientRect();
    const fx = (ev.clientX - rect.left) / rect.width;
    const fy = (ev.clientY - rect.top) / rect.height;
    return { h, w, fx, fy, c: Math.floor(fx * w), rTop: Math.floor(fy * h) };
  }

  function onMove(ev) {
    if (drag) return onDrag(ev);
    const { h, w, c, rTop } = cell(ev);
    if (c < 0 || c >= w || rTop < 0 || rTop >= h) return hint();
    const i = h - 1 - rTop;
    const t1 = model.get("t1");
    const t2 = model.get("t2");
    const u = model.get("time_unit");
    let shown;
    if (values && values.length === h * w) {
      shown = `= ${fmt(values[i * w + c])}`;
    } else {
      const code = asBytes(model.get("image"))[i * w + c];
      const vmin = model.get("vmin");
      const vmax = model.get("vmax");
      if (code === NAN_CODE) shown = "= NaN";
      else if (code === 0) shown = `≤ ${fmt(vmin)}`;
      else if (code === TOP_CODE) shown = `≥ ${fmt(vmax)}`;
      else shown = `≈ ${fmt(vmin + (code * (vmax - vmin)) / TOP_CODE)}`;
    }
    readout.textContent = `t1 = ${fmt(t1[i])} ${u}, t2 = ${fmt(t2[c])} ${u}, ${model.get("label")} ${shown}`;
  }

  // ---- zoom and pan: only the `window` trait changes; the kernel sends the re-sampled window
  let pending = null;
  function sendWindow(win) {
    if (pending) clearTimeout(pending);
    pending = setTimeout(() => {
      pending = null;
      model.set("window", win.map((v) => Math.round(v)));
      model.save_changes();
    }, 60);
  }
  function clampSpan(a0, a1, n) {
    let span = Math.max(2, Math.min(n, a1 - a0));
    let lo = Math.max(0, Math.min(a0, n - span));
    return [lo, lo + span];
  }
  function onWheel(ev) {
    ev.preventDefault();
    const [H, W] = model.get("full_shape");
    const [r0, r1, c0, c1] = model.get("window");
    const { fx, fy } = cell(ev);
    const k = ev.deltaY < 0 ? 0.8 : 1.25;
    const cx = c0 + fx * (c1 - c0);
    const ry = r0 + (1 - fy) * (r1 - r0);
    const nw = (c1 - c0) * k;
    const nh = (r1 - r0) * k;
    const [nc0, nc1] = clampSpan(cx - fx * nw, cx - fx * nw + nw, W);
    const [nr0, nr1] = clampSpan(ry - (1 - fy) * nh, ry - (1 - fy) * nh + nh, H);
    sendWindow([nr0, nr1, nc0, nc1]);
  }
  let drag = null;
  function onDown(ev) {
    drag = { x: ev.clientX, y: ev.clientY, win: model.get("window").slice() };
    canvas.style.cursor = "grabbing";
  }
  function onDrag(ev) {
    const rect = canvas.getBoundingClientRect();
    const [H, W] = model.get("full_shape");
    const [r0, r1, c0, c1] = drag.win;
    const dc = (-(ev.clientX - drag.x) / rect.width) * (c1 - c0);
    const dr = ((ev.clientY - drag.y) / rect.height) * (r1 - r0);
    canvas.style.transform = `translate(${ev.clientX - drag.x}px, ${ev.clientY - drag.y}px)`;
    drag.next = [...clampSpan(r0 + dr, r1 + dr, H), ...clampSpan(c0 + dc, c1 + dc, W)];
  }
  function onUp() {
    if (!drag) return;
    canvas.style.transform = "";
    canvas.style.cursor = "";
    if (drag.next) sendWindow(drag.next);
    drag = null;
  }
  function fullView() {
    const [H, W] = model.get("full_shape");
    sendWindow([0, H, 0, W]);
  }

  function requestLimits() {
    const lo = Number(vminInput.value.trim());
    const hi = Number(vmaxInput.value.trim());
    const ok = vminInput.value.trim() !== "" && vmaxInput.value.trim() !== "" && Number.isFinite(lo)
      && Number.isFinite(hi) && lo < hi;
    vminInput.classList.toggle("xpcsnb-c2view-bad", !ok);
    vmaxInput.classList.toggle("xpcsnb-c2view-bad", !ok);
    if (!ok) {
      note.style.display = "";
      note.textContent = "colour limits: type two finite numbers with min < max";
      return;
    }
    model.set("limit_request", { vmin: lo, vmax: hi, n: ++requests });
    model.save_changes();
  }

  // ---- PNG export of the whole view (title, image, ticks, colour bar), drawn on an offscreen canvas
  function exportPng() {
    const s = 2;
    const rect = canvas.getBoundingClientRect();
    const iw = Math.max(200, Math.round(rect.width));
    const ih = Math.max(200, Math.round(rect.height));
    const ml = 70, mt = 30, mb = 50, mr = 110;
    const off = document.createElement("canvas");
    off.width = (ml + iw + mr) * s;
    off.height = (mt + ih + mb) * s;
    const g = off.getContext("2d");
    g.scale(s, s);
    g.fillStyle = "#fff";
    g.fillRect(0, 0, ml + iw + mr, mt + ih + mb);
    g.imageSmoothingEnabled = false;
    g.drawImage(canvas, ml, mt, iw, ih);
    g.strokeStyle = "#555";
    g.strokeRect(ml, mt, iw, ih);
    g.fillStyle = "#222";
    g.font = "bold 13px sans-serif";
    g.fillText(fullTitle(), ml, 18);
    g.font = "11px sans-serif";
    const t1 = model.get("t1");
    const t2 = model.get("t2");
    g.textAlign = "center";
    for (const v of niceTicks(t2[0], t2[t2.length - 1], 6)) {
      const x = ml + frac(t2, v) * iw;
      g.fillRect(x, mt + ih, 1, 4);
      g.fillText(tickText(v), x, mt + ih + 16);
    }
    g.fillText(xName.textContent, ml + iw / 2, mt + ih + 36);
    g.textAlign = "right";
    for (const v of niceTicks(t1[0], t1[t1.length - 1], 6)) {
      const y = mt + (1 - frac(t1, v)) * ih;
      g.fillRect(ml - 4, y, 4, 1);
      g.fillText(tickText(v), ml - 6, y + 4);
    }
    g.save();
    g.translate(14, mt + ih / 2);
    g.rotate(-Math.PI / 2);
    g.textAlign = "center";
    g.fillText(yName.textContent, 0, 0);
    g.restore();
    const bx = ml + iw + 14;
    g.drawImage(cbar, bx, mt, 14, ih);
    g.strokeRect(bx, mt, 14, ih);
    g.textAlign = "left";
    const vmin = model.get("vmin");
    const vmax = model.get("vmax");
    for (const v of niceTicks(vmin, vmax, 5)) {
      const y = mt + (1 - (v - vmin) / (vmax - vmin)) * ih;
      g.fillRect(bx + 14, y, 4, 1);
      g.fillText(tickText(v), bx + 20, y + 4);
    }
    g.save();
    g.translate(bx + 95, mt + ih / 2);
    g.rotate(-Math.PI / 2);
    g.textAlign = "center";
    g.fillText(cbarName.textContent, 0, 0);
    g.restore();
    const a = document.createElement("a");
    a.href = off.toDataURL("image/png");
    a.download = `${(model.get("title") || "c2").replace(/[^\w.-]+/g, "_")}.png`;
    a.click();
  }

  phiSelect.addEventListener("change", () => {
    model.set("phi_index", Number(phiSelect.value));
    model.save_changes();
  });
  cmapSelect.addEventListener("change", () => {
    model.set("colormap", cmapSelect.value);  // redrawn locally by change:colormap
    model.save_changes();
  });
  for (const i of [vminInput, vmaxInput]) {
    i.addEventListener("change", requestLimits);
    i.addEventListener("keydown", (ev) => { if (ev.key === "Enter") requestLimits(); });
  }
  autoButton.addEventListener("click", () => {
    model.set("limit_request", { auto: true, n: ++requests });
    model.save_changes();
  });
  resetButton.addEventListener("click", fullView);
  pngButton.addEventListener("click", exportPng);
  canvas.addEventListener("mousemove", onMove);
  canvas.addEventListener("mouseleave", () => { onUp(); hint(); });
  canvas.addEventListener("mousedown", onDown);
  canvas.addEventListener("mouseup", onUp);
  canvas.addEventListener("dblclick", fullView);
  canvas.addEventListener("wheel", onWheel, { passive: false });

  // the colour bar is as tall as the image, whatever size the window gives it
  const resize = typeof ResizeObserver === "undefined" ? null : new ResizeObserver(() => {
    const h = canvas.getBoundingClientRect().height;
    if (h > 0) {
      cbar.style.height = `${Math.round(h)}px`;
      cbarTicks.style.height = `${Math.round(h)}px`;
    }
  });
  if (resize) resize.observe(canvas);

  const handlers = [
    ["change:image", onImage],
    ["change:values", () => { values = asFloat32(model.get("values")); }],
    ["change:shape", layout],
    ["change:size", layout],
    ["change:colormap", () => { cmapSelect.value = model.get("colormap"); drawImage(); }],
    ["change:luts", drawImage],
    ["change:colormaps", cmapOptions],
    ["change:vmin", limits],
    ["change:vmax", limits],
    ["change:unit", limits],
    ["change:label", () => { limits(); hint(); }],
    ["change:t1", axes],
    ["change:t2", axes],
    ["change:time_unit", axes],
    ["change:phi", () => { phiOptions(); texts(); }],
    ["change:phi_index", () => { phiSelect.value = String(model.get("phi_index")); texts(); }],
    ["change:title", texts],
    ["change:q", texts],
    ["change:note", texts],
  ];
  for (const [name, cb] of handlers) model.on(name, cb);

  cmapOptions();
  phiOptions();
  axes();
  limits();
  texts();
  hint();
  onImage();

  return () => {
    for (const [name, cb] of handlers) model.off(name, cb);
    if (pending) clearTimeout(pending);
    if (resize) resize.disconnect();
  };
}

export default { render };
