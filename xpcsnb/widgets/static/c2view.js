// C2View front end (anywidget ESM): draws uint8 codes through a colour table on a canvas.
// Codes 0..254 map linearly onto [vmin, vmax]; code 255 is NaN (grey).
// Row 0 of the image is the first t1 and is drawn at the bottom (origin lower).

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

// An axis label box: [box, first tick, axis name, last tick] (top → bottom or left → right).
function axisLabel(cls) {
  const box = el("div", cls);
  const first = el("span", "xpcsnb-c2view-tick");
  const name = el("span", "xpcsnb-c2view-axisname");
  const last = el("span", "xpcsnb-c2view-tick");
  box.append(first, name, last);
  return [box, first, name, last];
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
  head.append(title, phiLabel, cmapLabel);

  const plot = el("div", "xpcsnb-c2view-plot");
  const [yLabel, yTop, yName, yBottom] = axisLabel("xpcsnb-c2view-ylabel");
  const canvas = el("canvas", "xpcsnb-c2view-canvas");
  const cbarBox = el("div", "xpcsnb-c2view-cbar");
  const cbarMax = el("span", "xpcsnb-c2view-tick");
  const cbar = el("canvas", "xpcsnb-c2view-cbar-canvas");
  const cbarMin = el("span", "xpcsnb-c2view-tick");
  cbarBox.append(cbarMax, cbar, cbarMin);
  const corner = el("div", "");
  const [xLabel, xLeft, xName, xRight] = axisLabel("xpcsnb-c2view-xlabel");
  plot.append(yLabel, canvas, cbarBox, corner, xLabel);

  const readout = el("div", "xpcsnb-c2view-readout");
  const note = el("div", "xpcsnb-c2view-note");
  box.append(head, plot, readout, note);
  root.appendChild(box);

  const ctx = canvas.getContext("2d");
  const cctx = cbar.getContext("2d");
  let values = null;

  function hint() {
    readout.textContent = `hover the image for t1, t2 and ${model.get("label")}`;
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
    const aspect = h > 0 && w > 0 ? h / w : 1;
    const width = size;
    const height = Math.round(size * aspect);
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
    cbar.style.height = `${Math.max(height - 40, 40)}px`;
    plot.style.gridTemplateColumns = `auto ${width}px auto`;
  }

  function axes() {
    const t1 = model.get("t1");
    const t2 = model.get("t2");
    const u = model.get("time_unit");
    const unit = u ? ` [${u}]` : "";
    yName.textContent = `t1${unit}`;
    xName.textContent = `t2${unit}`;
    yBottom.textContent = t1.length ? fmt(t1[0]) : "";
    yTop.textContent = t1.length ? fmt(t1[t1.length - 1]) : "";
    xLeft.textContent = t2.length ? fmt(t2[0]) : "";
    xRight.textContent = t2.length ? fmt(t2[t2.length - 1]) : "";
  }

  function limits() {
    cbarMin.textContent = fmt(model.get("vmin"));
    cbarMax.textContent = fmt(model.get("vmax"));
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
    title.textContent = model.get("title");
    note.textContent = model.get("note");
    note.style.display = model.get("note") ? "" : "none";
  }

  function onImage() {
    values = asFloat32(model.get("values"));
    layout();
    drawImage();
  }

  function onMove(ev) {
    const [h, w] = model.get("shape");
    const rect = canvas.getBoundingClientRect();
    const c = Math.floor(((ev.clientX - rect.left) / rect.width) * w);
    const rTop = Math.floor(((ev.clientY - rect.top) / rect.height) * h);
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

  phiSelect.addEventListener("change", () => {
    model.set("phi_index", Number(phiSelect.value));
    model.save_changes();
  });
  cmapSelect.addEventListener("change", () => {
    model.set("colormap", cmapSelect.value);  // redrawn locally by change:colormap
    model.save_changes();
  });
  canvas.addEventListener("mousemove", onMove);
  canvas.addEventListener("mouseleave", hint);

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
    ["change:t1", axes],
    ["change:t2", axes],
    ["change:time_unit", axes],
    ["change:phi", phiOptions],
    ["change:phi_index", () => { phiSelect.value = String(model.get("phi_index")); }],
    ["change:title", texts],
    ["change:note", texts],
    ["change:label", hint],
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
  };
}

export default { render };
