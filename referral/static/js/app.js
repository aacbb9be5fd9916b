// Shabaka's own script: small behaviours, no inline handlers (strict CSP).
document.addEventListener("submit", function (event) {
  var button = event.submitter;
  var message = button && button.getAttribute("data-confirm");
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});

// The printable referral form: a button that opens the browser's print dialogue.
document.addEventListener("click", function (event) {
  var target = event.target;
  if (target && target.closest && target.closest("[data-print]")) {
    window.print();
  }
});

// A refused form: the focus moves to its error summary (templates/_forms.html), so that a screen
// reader reads the problems first; a link of the summary moves the focus to its field.
document.addEventListener("DOMContentLoaded", function () {
  var summary = document.querySelector("[data-error-summary]");
  if (summary) {
    summary.focus();
  }
});
document.addEventListener("click", function (event) {
  var link = event.target && event.target.closest && event.target.closest("[data-error-summary] a[href^='#']");
  if (!link) {
    return;
  }
  var id = decodeURIComponent(link.getAttribute("href").slice(1));
  var target = document.getElementById(id) || document.querySelector("[name='" + id.replace(/'/g, "") + "']");
  if (target) {
    event.preventDefault();
    var label = target.id && document.querySelector("label[for='" + target.id + "']");
    (label || target).scrollIntoView({ block: "center" });
    target.focus({ preventScroll: true });
  }
});

// Content swapped in by htmx (a notification marked read): the focus goes where it says, not to
// the top of the page with the button that was removed.
document.addEventListener("htmx:load", function (event) {
  var element = event.detail && event.detail.elt;
  var target = element && element.querySelector && (element.matches("[data-focus-on-load]") ? element : element.querySelector("[data-focus-on-load]"));
  if (target) {
    target.focus();
  }
});
