// A clickable SVG figure (anywidget ESM): shows `value` (an SVG string made by the kernel) and
// sends the data-row of the clicked element (a curve, a point) back as `picked`.
function render({ model, el }) {
  const box = document.createElement("div");
  box.className = "xpcsnb-svgpick";
  el.appendChild(box);
  const draw = () => { box.innerHTML = model.get("value"); };
  box.addEventListener("click", (ev) => {
    const hit = ev.target.closest("[data-row]");
    if (!hit) return;
    model.set("picked", Number(hit.getAttribute("data-row")));
    model.save_changes();
  });
  model.on("change:value", draw);
  draw();
}

export default { render };
