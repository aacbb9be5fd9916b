// The chair's timer of a case conference: every element marked data-conference-timer shows the
// time spent on the case under discussion against its allotted minutes (data-started-at, an ISO
// time; data-minutes), counting up each second, and turns red once the time is over.
// Nothing inline (strict CSP); the server's text stays for anyone without scripts.
(function () {
  "use strict";

  function pad(n) {
    return n < 10 ? "0" + n : String(n);
  }

  function tick(node) {
    var started = Date.parse(node.getAttribute("data-started-at") || "");
    var allotted = parseInt(node.getAttribute("data-minutes") || "0", 10) * 60;
    if (isNaN(started) || !allotted) {
      return;
    }
    var spent = Math.max(0, Math.floor((Date.now() - started) / 1000));
    node.textContent = pad(Math.floor(spent / 60)) + ":" + pad(spent % 60) + " / " + pad(allotted / 60) + ":00";
    var over = spent >= allotted;
    node.classList.toggle("text-bg-danger", over);
    node.classList.toggle("text-bg-warning", !over);
  }

  function start() {
    var nodes = document.querySelectorAll("[data-conference-timer]");
    if (!nodes.length) {
      return;
    }
    var all = function () {
      nodes.forEach(tick);
    };
    all();
    window.setInterval(all, 1000);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
