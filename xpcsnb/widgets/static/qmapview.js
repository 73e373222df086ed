// QMapView front end (anywidget ESM): the detector image (uint8 codes of log10 intensity through a
// colour table), ROI outlines computed from the label map, the selected ROI tinted; a click sends
// the pixel (row, column) to the kernel, which answers with the ROI label in `selected`.

function asBytes(v) {
  if (!v) return new Uint8Array(0);
  if (v instanceof DataView) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  return new Uint8Array(0);
}

function labelsOf(model) {
  const b = asBytes(model.get("labels"));
  if (b.length === 0 || b.length % 2 !== 0) return null;
  return new Uint16Array(b.slice().buffer); // copy: the view may be unaligned
}

function draw(model, canvas) {
  const [h, w] = model.get("shape");
  const img = asBytes(model.get("image"));
  const lut = asBytes(model.get("lut"));
  const labels = labelsOf(model);
  const sel = model.get("selected");
  if (!h || !w || img.length !== h * w) return;
  canvas.width = w;
  canvas.height = h;
  const size = model.get("size");
  const scale = size / Math.max(h, w);
  canvas.style.width = Math.round(w * scale) + "px";
  canvas.style.height = Math.round(h * scale) + "px";
  const ctx = canvas.getContext("2d");
  const out = ctx.createImageData(w, h);
  const d = out.data;
  const ok = labels && labels.length === h * w;
  for (let i = 0; i < h * w; i++) {
    const c = img[i];
    let r = lut[3 * c], g = lut[3 * c + 1], b = lut[3 * c + 2];
    if (ok) {
      const L = labels[i];
      const x = i % w;
      const edge = (x + 1 < w && labels[i + 1] !== L) || (i + w < h * w && labels[i + w] !== L);
      if (sel > 0 && L === sel) { r = Math.round(0.5 * r + 127); g = Math.round(0.5 * g); b = Math.round(0.5 * b); }
      if (edge) { r = 255; g = 255; b = 255; }
    }
    d[4 * i] = r; d[4 * i + 1] = g; d[4 * i + 2] = b; d[4 * i + 3] = 255;
  }
  ctx.putImageData(out, 0, 0);
}

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "xpcsnb-qmap";
  const title = document.createElement("div");
  title.className = "xpcsnb-qmap-title";
  const canvas = document.createElement("canvas");
  canvas.className = "xpcsnb-qmap-canvas";
  canvas.style.imageRendering = "pixelated";
  canvas.style.cursor = "crosshair";
  canvas.style.maxWidth = "100%";
  const info = document.createElement("div");
  info.className = "xpcsnb-qmap-info";
  info.style.font = "12px sans-serif";
  root.append(title, canvas, info);
  el.appendChild(root);

  const redraw = () => {
    title.textContent = model.get("title");
    info.textContent = model.get("info");
    draw(model, canvas);
  };
  canvas.addEventListener("click", (ev) => {
    const r = canvas.getBoundingClientRect();
    const [h, w] = model.get("shape");
    const col = Math.floor(((ev.clientX - r.left) / r.width) * w);
    const row = Math.floor(((ev.clientY - r.top) / r.height) * h);
    if (row < 0 || col < 0 || row >= h || col >= w) return;
    model.set("click", [row, col]);
    model.save_changes();
  });
  for (const name of ["image", "labels", "selected", "shape", "lut", "size", "title", "info"]) {
    model.on("change:" + name, redraw);
  }
  redraw();
}

export default { render };
