// Desktop notifications for the studio's toasts, when the person has allowed them.
(function () {
  "use strict";
  var button = document.getElementById("enable-notifications");
  if (!("Notification" in window)) {
    if (button) button.hidden = true;
    return;
  }
  function refreshButton() {
    if (button) button.hidden = Notification.permission !== "default";
  }
  if (button) {
    button.addEventListener("click", function () {
      Notification.requestPermission().then(refreshButton);
    });
  }
  refreshButton();
  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target.id !== "toasts" || Notification.permission !== "granted") return;
    event.detail.target.querySelectorAll(".toast:not([data-notified])").forEach(function (toast) {
      toast.setAttribute("data-notified", "1");
      new Notification(toast.dataset.notifyTitle, { body: toast.dataset.notifyBody });
    });
  });
})();
