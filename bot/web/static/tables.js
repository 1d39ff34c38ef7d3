// Stacked table rows on a phone (app.css) show each cell's column name from its data-label;
// a cell its template did not label gets its column heading here. Without JavaScript such a
// cell stacks unlabelled, which is all this improves.
document.querySelectorAll("main table").forEach(function (table) {
  var heads = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
    // A heading read only by screen readers (an actions column) labels nothing on screen.
    return th.querySelector(".visually-hidden") ? "" : th.textContent.trim();
  });
  table.querySelectorAll("tbody tr").forEach(function (row) {
    Array.prototype.forEach.call(row.children, function (cell, i) {
      if (!cell.hasAttribute("data-label") && !cell.hasAttribute("colspan") && heads[i]) {
        cell.setAttribute("data-label", heads[i]);
      }
    });
  });
});
