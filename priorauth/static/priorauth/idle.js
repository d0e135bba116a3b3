/* Automatic log-off, as the browser sees it. The server signs a user out after
 * SESSION_IDLE_TIMEOUT seconds without a request (priorauth/pages/signin.py); this script
 * (1) tells the server about typing on a page that sends no requests of its own (a long letter
 * narrative), at most once a minute, and (2) once the time is up, reloads the page, so the
 * server's sign-in form replaces patient data left on an unattended screen.
 */
(function () {
  "use strict";

  var body = document.body;
  var timeout = Number(body.getAttribute("data-idle-timeout"));
  var keepAliveUrl = body.getAttribute("data-keep-alive-url");
  if (!timeout || !keepAliveUrl) return;

  var PING_EVERY_MS = 60 * 1000;
  var lastRequest = Date.now();
  var lastPing = 0;
  var expiry = null;

  function armExpiry() {
    clearTimeout(expiry);
    // A little after the server's limit, so that the reload is what signs the user out.
    expiry = setTimeout(function () { window.location.reload(); }, timeout * 1000 + 2000);
  }

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    var input = document.querySelector('input[name="csrfmiddlewaretoken"]');
    return input ? input.value : "";
  }

  function ping() {
    lastPing = Date.now();
    fetch(keepAliveUrl, { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrfToken() } })
      .then(function (response) {
        if (response.status === 401) window.location.reload();
        else { lastRequest = Date.now(); armExpiry(); }
      })
      .catch(function () { /* offline: the expiry still runs */ });
  }

  function activity() {
    if (Date.now() - lastPing >= PING_EVERY_MS && Date.now() - lastRequest >= PING_EVERY_MS) ping();
  }

  // The page's own background requests (the live checklist) count as activity on the server.
  document.addEventListener("checklist:checked", function () { lastRequest = Date.now(); armExpiry(); });
  document.addEventListener("keydown", activity, { passive: true });
  document.addEventListener("input", activity, { passive: true });
  armExpiry();
})();
