// leakgate report.html: sort the checks table by a column (click or press
// Enter on its heading) and show only failing, warning or growing checks.
// Without script the whole table is shown, failing checks first.
(function () {
  "use strict";
  var table = document.getElementById("checks-table");
  if (!table) {
    return;
  }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var count = document.getElementById("checks-count");
  rows.forEach(function (row, i) {
    row.setAttribute("data-i", String(i));
  });

  var RANK = { fail: 2, warn: 1, pass: 0 };
  var GROWTH = 6; // the Growth column

  function key(row, column, kind) {
    if (kind === "rank") {
      return RANK[row.getAttribute("data-status")];
    }
    var cell = row.cells[column];
    if (kind === "text") {
      return cell.textContent.toLowerCase();
    }
    var v = parseFloat(cell.getAttribute("data-v"));
    return isNaN(v) ? -Infinity : v;
  }

  function sortBy(th) {
    var column = th.cellIndex;
    var kind = th.getAttribute("data-sort");
    // Numbers (and verdicts) worst or largest first; text A to Z.
    var descending = th.getAttribute("aria-sort") === "none" ? kind !== "text" : th.getAttribute("aria-sort") === "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (other) {
      if (other.hasAttribute("aria-sort")) {
        other.setAttribute("aria-sort", "none");
      }
    });
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
    var sign = descending ? -1 : 1;
    var sorted = rows.slice().sort(function (a, b) {
      var ka = key(a, column, kind);
      var kb = key(b, column, kind);
      if (ka < kb) {
        return -sign;
      }
      if (ka > kb) {
        return sign;
      }
      return Number(a.getAttribute("data-i")) - Number(b.getAttribute("data-i"));
    });
    sorted.forEach(function (row) {
      body.appendChild(row);
    });
  }

  Array.prototype.forEach.call(table.querySelectorAll("th[data-sort] button"), function (button) {
    button.addEventListener("click", function () {
      sortBy(button.parentNode);
    });
  });

  function shown(row, what) {
    var status = row.getAttribute("data-status");
    if (what === "fail") {
      return status === "fail";
    }
    if (what === "warn") {
      return status !== "pass";
    }
    if (what === "grew") {
      return parseFloat(row.cells[GROWTH].getAttribute("data-v")) > 0;
    }
    return true;
  }

  function filter(what) {
    var visible = 0;
    rows.forEach(function (row) {
      var show = shown(row, what);
      row.hidden = !show;
      if (show) {
        visible += 1;
      }
    });
    count.textContent = "Showing " + visible + " of " + rows.length + " checks. Click a column heading to sort.";
  }

  Array.prototype.forEach.call(document.querySelectorAll("input[name=show]"), function (input) {
    input.addEventListener("change", function () {
      filter(input.value);
    });
  });
  var checked = document.querySelector("input[name=show]:checked");
  filter(checked ? checked.value : "all");
})();
