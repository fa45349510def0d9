// Reorder a storyboard's shots by dragging one onto another. The ↑ and ↓ buttons do the
// same without JavaScript; this posts the new position to the same URL and swaps the board.
(function () {
  "use strict";
  let dragged = null;

  function strip() {
    return document.querySelector(".shot-strip");
  }

  document.addEventListener("dragstart", function (event) {
    const shot = event.target.closest && event.target.closest(".shot[draggable=true]");
    if (!shot) return;
    dragged = shot;
    shot.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", shot.dataset.shot);
  });

  document.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("dragging");
    dragged = null;
  });

  document.addEventListener("dragover", function (event) {
    if (dragged && event.target.closest && event.target.closest(".shot")) {
      event.preventDefault();
    }
  });

  document.addEventListener("drop", function (event) {
    const target = event.target.closest && event.target.closest(".shot");
    const list = strip();
    if (!dragged || !target || !list || target === dragged) return;
    event.preventDefault();
    const shots = Array.from(list.querySelectorAll(".shot"));
    const to = shots.indexOf(target) + 1;
    const url = list.dataset.moveUrlTemplate.replace("SHOT", dragged.dataset.shot);
    window.htmx.ajax("POST", url, {
      target: "#board",
      swap: "outerHTML",
      values: { to: String(to) },
    });
  });
})();
