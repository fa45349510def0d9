// The gallery's hover preview: a card's muted player plays while the pointer is on the
// card, or the keyboard's focus is in it, and stops (back at its start) when it leaves.
// Its preload="none" player fetches nothing until then. Without this script the poster
// and the link to the review page are all a card shows.
(function () {
  "use strict";

  function play(video) {
    const playing = video.play();
    // A preview refused (autoplay rules, a missing file) is no error worth showing.
    if (playing && playing.catch) playing.catch(function () {});
  }

  function stop(video) {
    video.pause();
    if (video.readyState > 0) video.currentTime = 0;
  }

  function setUp(card) {
    const video = card.querySelector("video[data-gallery-preview]");
    if (!video) return;
    video.muted = true;
    card.addEventListener("mouseenter", function () { play(video); });
    card.addEventListener("mouseleave", function () { stop(video); });
    card.addEventListener("focusin", function () { play(video); });
    card.addEventListener("focusout", function (event) {
      if (!card.contains(event.relatedTarget)) stop(video);
    });
  }

  document.querySelectorAll("[data-gallery-card]").forEach(setUp);
})();
