/* Draws every chart of a page: each element with data-figure="ID" gets the plotly figure
   {data, layout} embedded (json_script) in the element with that ID. No inline script, so a
   strict Content-Security-Policy holds; without JavaScript the tables carry the same figures. */
(function () {
  "use strict";

  function draw() {
    if (!window.Plotly) {
      return;
    }
    document.querySelectorAll("[data-figure]").forEach(function (element) {
      var source = document.getElementById(element.getAttribute("data-figure"));
      if (!source) {
        return;
      }
      var figure = JSON.parse(source.textContent);
      element.textContent = "";
      window.Plotly.newPlot(element, figure.data, figure.layout, {responsive: true, displayModeBar: false})
        .then(function () { element.setAttribute("data-drawn", "true"); });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
