// Play two to four videos together: one Play/Pause button, one position slider and a time
// readout drive every player in a [data-compare] block, and a player started, paused or
// seeked through its own controls takes the others with it. Shorter videos stop at their
// end while the longer ones play on. Without this script each player has its own controls.
(function () {
  "use strict";
  // Players further apart than this while playing are brought back together.
  const DRIFT_SECONDS = 0.3;

  function setUp(root) {
    const videos = Array.from(root.querySelectorAll("video[data-compare-video]"));
    const controls = root.querySelector("[data-compare-controls]");
    const toggle = root.querySelector("[data-compare-toggle]");
    const scrub = root.querySelector("[data-compare-scrub]");
    const readout = root.querySelector("[data-compare-time]");
    if (videos.length < 2 || !controls || !toggle || !scrub || !readout) return;
    // Seeks this script made: their "seeked" events are echoes, not a person's doing.
    const ours = new Set();
    let dragging = false;

    // One soundtrack at a time; a player's own controls can unmute another.
    videos.forEach(function (video, index) {
      if (index > 0) video.muted = true;
    });

    function length(video) {
      return Number.isFinite(video.duration) ? video.duration : 0;
    }

    function longest() {
      return Math.max.apply(null, videos.map(length));
    }

    function atEnd(video) {
      return video.ended || (length(video) > 0 && video.currentTime >= length(video) - 0.01);
    }

    // The clock the controls show: the furthest player, so a shorter one's end does not
    // pull the readout back.
    function now() {
      return Math.max.apply(null, videos.map(function (video) { return video.currentTime; }));
    }

    function playing() {
      return videos.some(function (video) { return !video.paused && !atEnd(video); });
    }

    function seekAll(seconds, except) {
      videos.forEach(function (video) {
        if (video === except) return;
        const to = Math.min(Math.max(seconds, 0), length(video) || seconds);
        if (Math.abs(video.currentTime - to) < 0.01) return;
        ours.add(video);
        video.currentTime = to;
      });
    }

    function playAll(except) {
      if (videos.every(atEnd)) seekAll(0);
      const at = except ? except.currentTime : now();
      videos.forEach(function (video) {
        if (video === except || !video.paused) return;
        // A video shorter than where the others are stays on its last frame.
        if (length(video) && at >= length(video) - 0.01) return;
        const started = video.play();
        if (started && started.catch) started.catch(function () { show(); });
      });
    }

    function pauseAll(except) {
      videos.forEach(function (video) {
        if (video !== except && !video.paused) video.pause();
      });
    }

    function format(seconds) {
      return seconds.toFixed(1);
    }

    function show() {
      const total = longest();
      const at = now();
      scrub.max = String(total);
      if (!dragging) scrub.value = String(at);
      readout.textContent = format(at) + " s of " + format(total) + " s";
      scrub.setAttribute("aria-valuetext", format(at) + " seconds of " + format(total));
      toggle.textContent = playing() ? "Pause" : "Play";
    }

    toggle.addEventListener("click", function () {
      if (playing()) pauseAll(); else playAll();
      show();
    });

    scrub.addEventListener("input", function () {
      dragging = true;
      seekAll(Number(scrub.value));
      show();
    });
    scrub.addEventListener("change", function () {
      dragging = false;
      seekAll(Number(scrub.value));
      // A shorter player that had stopped at its end plays on from the new position.
      if (playing()) playAll();
      show();
    });

    videos.forEach(function (video) {
      video.addEventListener("play", function () {
        playAll(video);
        show();
      });
      video.addEventListener("pause", function () {
        // Reaching its end pauses a shorter video: the others play on.
        if (!atEnd(video)) pauseAll(video);
        show();
      });
      video.addEventListener("seeked", function () {
        if (ours.has(video)) {
          ours.delete(video);
        } else {
          seekAll(video.currentTime, video);
          if (playing()) playAll();
        }
        show();
      });
      video.addEventListener("timeupdate", function () {
        const lead = videos.find(function (other) { return !other.paused && !atEnd(other); });
        if (video === lead) {
          videos.forEach(function (other) {
            if (other === lead || other.paused || ours.has(other)) return;
            if (Math.abs(other.currentTime - lead.currentTime) > DRIFT_SECONDS) {
              ours.add(other);
              other.currentTime = Math.min(lead.currentTime, length(other));
            }
          });
        }
        show();
      });
      video.addEventListener("loadedmetadata", show);
      video.addEventListener("ended", show);
    });

    controls.hidden = false;
    show();
  }

  function start() {
    document.querySelectorAll("[data-compare]").forEach(setUp);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
