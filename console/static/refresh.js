// Reload the claim page when the claim's version changes, unless a form has been typed into.
(function () {
  var root = document.getElementById("claim");
  if (!root) return;
  var typed = false;
  document.addEventListener("input", function () { typed = true; });
  var url = "/claims/" + encodeURIComponent(root.dataset.claim) + "/version.json";
  setInterval(function () {
    if (typed || document.hidden) return;
    fetch(url, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (body && String(body.version) !== root.dataset.version && !typed) {
          window.location.replace(window.location.pathname);
        }
      })
      .catch(function () {});
  }, 3000);
})();
