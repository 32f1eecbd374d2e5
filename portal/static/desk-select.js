// 全选本页 on the desk: ticks or clears the page's boxes at once. Without JavaScript the box is
// sent with the form and the server takes the whole page (hidden page_ids) as ticked. Delegated
// on the document, so an htmx swap of the file list needs nothing more.
(function () {
  if (window.deskSelectBound) return;
  window.deskSelectBound = true;
  document.addEventListener("change", function (event) {
    var target = event.target;
    var all = document.getElementById("select-page");
    if (!all) return;
    if (target === all) {
      document.querySelectorAll('#assign-form input[name="file_ids"]').forEach(function (box) {
        box.checked = all.checked;
      });
    } else if (target.name === "file_ids" && !target.checked) {
      all.checked = false;
    }
  });
})();
