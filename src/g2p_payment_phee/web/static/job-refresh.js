// Keeps a running job's page current without reloading it: a timed reload (meta refresh)
// moves screen readers and keyboard focus back to the top every few seconds. The page is
// fetched again and the job's state, progress and message swapped in; once the job has ended
// the page is loaded once more, with its result.
(function () {
  var marker = document.querySelector("script[data-refresh]");
  if (!marker) { return; }
  var delay = Number(marker.dataset.refresh) * 1000;
  var parts = ["job-state", "job-progress", "job-message"];

  function update(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html");
    if (!fresh.querySelector("script[data-refresh]")) {
      window.location.reload();
      return;
    }
    parts.forEach(function (id) {
      var now = document.getElementById(id), next = fresh.getElementById(id);
      if (now && next && now.innerHTML !== next.innerHTML) { now.innerHTML = next.innerHTML; }
    });
    window.setTimeout(poll, delay);
  }

  function poll() {
    fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (answer) { return answer.ok ? answer.text() : Promise.reject(answer.status); })
      .then(update, function () { window.setTimeout(poll, delay * 2); });
  }

  window.setTimeout(poll, delay);
})();
