// Sortable tables for the w2s-bench leaderboard site: no dependencies, no build step.
// Every <table class="sortable"> gets clickable column headers. A cell sorts by its data-sort
// attribute (numbers compare as numbers; an empty value, e.g. an undefined PGR, always sorts
// last); a header's first click sorts descending for numbers and ascending for text, the next
// click reverses. The header's aria-sort says the current order.
"use strict";
function sortTable(table, col) {
  const th = table.tHead.rows[0].cells[col];
  const numeric = th.dataset.type === "num";
  const current = th.getAttribute("aria-sort");
  const ascending = current ? current === "descending" : !numeric;
  const key = (row) => row.cells[col].dataset.sort;
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  rows.sort((a, b) => {
    const x = key(a), y = key(b);
    if (x === "" || y === "") return (x === "") - (y === "");  // undefined last, either way
    const d = numeric ? Number(x) - Number(y) : (x < y ? -1 : x > y ? 1 : 0);  // code points
    return ascending ? d : -d;
  });
  rows.forEach((row) => body.appendChild(row));
  for (const h of th.parentNode.cells) h.removeAttribute("aria-sort");
  th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
}
document.querySelectorAll("table.sortable").forEach((table) => {
  Array.from(table.tHead.rows[0].cells).forEach((th, col) => {
    th.tabIndex = 0;
    th.title = "sort by this column";
    th.addEventListener("click", () => sortTable(table, col));
    th.addEventListener("keydown", (e) => { if (e.key === "Enter") sortTable(table, col); });
  });
});
