// The plots are plain SVG and need no script; this one only records, on the root element,
// whether the browser laid each plot out with visible geometry and whether any script error
// happened, so a headless browser (or a reader's devtools) can tell a drawn report from a
// broken one.
(function () {
  "use strict";
  var root = document.documentElement;
  window.addEventListener("error", function (event) {
    var seen = root.getAttribute("data-js-errors") || "";
    root.setAttribute("data-js-errors", seen + String(event.message) + ";");
  });
  function visibleSeries(figure) {
    var visible = 0;
    figure.querySelectorAll("svg .series").forEach(function (path) {
      var box = path.getBBox();
      if (path.getAttribute("d") && (box.width > 0 || box.height > 0)) {
        visible += 1;
      }
    });
    return visible;
  }
  function check() {
    var figures = document.querySelectorAll("figure.plot");
    var drawn = 0;
    figures.forEach(function (figure) {
      var svg = figure.querySelector("svg");
      var box = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
      var visible = visibleSeries(figure);
      figure.setAttribute("data-visible-series", String(visible));
      if (box.width > 0 && box.height > 0 && visible > 0) {
        drawn += 1;
        figure.setAttribute("data-drawn", "true");
      }
    });
    root.setAttribute("data-plots", String(figures.length));
    root.setAttribute("data-plots-drawn", String(drawn));
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", check);
  } else {
    check();
  }
})();
