// Signing in where another site's frame may be in the way. At top level: go on at once (the
// cookie is kept). Inside a frame: go on once the browser kept the session cookie; if it did
// not, say why (plain HTTP, or cookies blocked in frames) and offer the Storage Access API
// after a click where it can help, and a tab of the portal's own. Nothing from the server is
// parsed as HTML.
"use strict";

(async () => {
  const signingIn = document.getElementById("signing-in");
  const show = (id) => { const element = document.getElementById(id); if (element) element.hidden = false; };
  const target = signingIn.dataset.target;
  if (window.top === window.self) {
    window.location.replace(target);
    return;
  }
  signingIn.hidden = true;
  if (document.getElementById("cannot-frame")) {
    show("cannot-frame");
    show("way-out");
    return;
  }
  let kept = false;
  try {
    const answer = await fetch(signingIn.dataset.check, { credentials: "same-origin" });
    kept = answer.ok && (await answer.json()).data.kept === true;
  } catch { /* taken as not kept */ }
  if (kept) {
    window.location.replace(target);
    return;
  }
  show("cookies-blocked");
  show("way-out");
  if (!window.isSecureContext) {
    show("needs-https");
    document.getElementById("blocked").hidden = true;
    return;
  }
  if (!document.requestStorageAccess) return;
  show("allow");
  document.getElementById("allow").addEventListener("click", async () => {
    try {
      await document.requestStorageAccess();
      window.location.reload();  // the sign-in again, now with the cookies allowed
    } catch {
      show("allow-refused");
    }
  });
})();
