// The review page (templates/review/video.html): a comment's moment ([data-seek], in
// seconds) seeks the player there and pauses; the comment form's moment is the player's
// position when it is sent, unless "The whole video" is ticked (then it is empty).
// Without this script the moments are links to the player and the form has a number
// field in seconds, which the server reads the same.
(function () {
  "use strict";
  const player = document.querySelector("[data-review-player]");
  if (!player) return;

  function clock(seconds) {
    const total = Math.floor(Number.isFinite(seconds) ? seconds : 0);
    const hours = Math.floor(total / 3600);
    const minutes = Math.floor((total % 3600) / 60);
    const secs = String(total % 60).padStart(2, "0");
    return hours ? hours + ":" + String(minutes).padStart(2, "0") + ":" + secs : minutes + ":" + secs;
  }

  document.addEventListener("click", function (event) {
    const link = event.target.closest("[data-seek]");
    if (!link) return;
    const seconds = Number(link.dataset.seek);
    if (!Number.isFinite(seconds)) return;
    event.preventDefault();
    // Paused on the frame the comment is about; Play goes on from there.
    player.pause();
    player.currentTime = seconds;
    player.scrollIntoView({ block: "nearest" });
    player.focus();
  });

  const form = document.querySelector("[data-comment-form]");
  if (!form) return;
  const field = form.querySelector("input[name='at_seconds']");
  const whole = form.querySelector("[data-whole]");
  const readout = form.querySelector("[data-moment-readout]");
  if (!field || !whole || !readout) return;

  // The number field stays in the form and carries the moment; a person sees the readout.
  form.querySelectorAll("[data-moment-manual]").forEach(function (element) {
    element.hidden = true;
  });
  readout.hidden = false;

  function show() {
    readout.textContent = whole.checked
      ? "On the whole video"
      : "At " + clock(player.currentTime) + ", where the player is";
  }

  ["timeupdate", "seeked", "loadedmetadata"].forEach(function (name) {
    player.addEventListener(name, show);
  });
  whole.addEventListener("change", show);
  form.addEventListener("submit", function () {
    field.value = whole.checked ? "" : player.currentTime.toFixed(3);
  });
  show();
})();
