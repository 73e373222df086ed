// Appended to c2view.js by g2view.AgeMap: a click (no drag) on the map sends the t1 row under
// the pointer as `pick_row`; zoom, pan and the rest of the C2View page are unchanged.
function renderWithPick(ctx) {
  const cleanup = render(ctx);
  const { model, el } = ctx;
  const canvas = el.querySelector("canvas.xpcsnb-c2view-canvas");
  let down = null;
  canvas.addEventListener("mousedown", (ev) => { down = [ev.clientX, ev.clientY]; });
  canvas.addEventListener("click", (ev) => {
    if (!down || Math.abs(ev.clientX - down[0]) + Math.abs(ev.clientY - down[1]) > 3) return;
    const rect = canvas.getBoundingClientRect();
    const fy = (ev.clientY - rect.top) / rect.height;
    const [r0, r1] = model.get("window");
    model.set("pick_row", Math.min(r1 - 1, Math.max(r0, Math.floor(r0 + (1 - fy) * (r1 - r0)))));
    model.save_changes();
  });
  return cleanup;
}

export default { render: renderWithPick };
