// Sortable tables and a row filter.  No inline handlers: the pages' CSP allows only this file.
(function () {
  "use strict";
  function cellValue(row, index, numeric) {
    var cell = row.cells[index];
    if (!cell) return numeric ? NaN : "";
    var raw = cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent.trim();
    if (!numeric) return raw.toLowerCase();
    var n = parseFloat(raw);
    return isNaN(n) ? NaN : n;
  }
  function sortBy(table, th) {
    var index = Array.prototype.indexOf.call(th.parentNode.cells, th);
    var numeric = th.getAttribute("data-sort") === "num";
    var asc = th.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(th.parentNode.cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellValue(a, index, numeric), y = cellValue(b, index, numeric);
      if (numeric) {
        // Empty values last whichever the direction.
        if (isNaN(x) && isNaN(y)) return 0;
        if (isNaN(x)) return 1;
        if (isNaN(y)) return -1;
        return asc ? x - y : y - x;
      }
      return asc ? x.localeCompare(y) : y.localeCompare(x);
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("table.sortable").forEach(function (table) {
      table.querySelectorAll("th[data-sort]").forEach(function (th) {
        th.tabIndex = 0;
        th.addEventListener("click", function () { sortBy(table, th); });
        th.addEventListener("keydown", function (e) { if (e.key === "Enter") sortBy(table, th); });
      });
    });
    document.querySelectorAll("input[data-filter]").forEach(function (input) {
      var table = document.getElementById(input.getAttribute("data-filter"));
      if (!table) return;
      input.addEventListener("input", function () {
        var q = input.value.trim().toLowerCase();
        Array.prototype.forEach.call(table.tBodies[0].rows, function (r) {
          r.hidden = q !== "" && r.textContent.toLowerCase().indexOf(q) < 0;
        });
      });
    });
    // Hovering a ranking row highlights the country on the map, and the reverse.
    var map = document.getElementById("world");
    var ranking = document.getElementById("ranking");
    if (map && ranking) {
      function mark(cc, on) {
        var g = map.querySelector('g[data-cc="' + cc + '"]');
        var tr = ranking.querySelector('tr[data-cc="' + cc + '"]');
        if (g) g.classList.toggle("hot", on);
        if (tr) tr.classList.toggle("hot", on);
      }
      [map, ranking].forEach(function (root) {
        root.addEventListener("mouseover", function (e) {
          var el = e.target.closest("[data-cc]"); if (el) mark(el.getAttribute("data-cc"), true);
        });
        root.addEventListener("mouseout", function (e) {
          var el = e.target.closest("[data-cc]"); if (el) mark(el.getAttribute("data-cc"), false);
        });
      });
    }
  });
})();
