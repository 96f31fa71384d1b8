// Folds the header's links behind a Menu button on narrow screens (site.css says below which
// width). Without this script the links simply stay shown. It is a file, not inline, because
// the pages' Content-Security-Policy refuses inline scripts; it runs right after the header,
// before the page is first drawn, so a phone never sees the unfolded header flash by.
(function () {
  var header = document.querySelector("header.top");
  var button = header && header.querySelector(".menu-toggle");
  var menu = button && document.getElementById(button.getAttribute("aria-controls"));
  if (!menu) { return; }

  function isOpen() { return button.getAttribute("aria-expanded") === "true"; }

  function show(open) {
    button.setAttribute("aria-expanded", open ? "true" : "false");
    header.classList.toggle("menu-open", open);
  }

  button.hidden = false;
  header.classList.add("menu-ready");
  button.addEventListener("click", function () { show(!isOpen()); });
  header.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && isOpen()) {
      show(false);
      button.focus();
    }
  });
})();
