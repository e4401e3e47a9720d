// Cloudflare Turnstile, only when the sale answers with a site key: a fresh widget token for each
// check (a token is single use), asked for when a session is made and when joining the line.
import { $, el } from "./page.js";

/** Renders the widget in #turnstile and resolves with its token. */
export function turnstileToken(siteKey) {
  return new Promise((resolve, reject) => {
    const box = $("turnstile");
    const render = () => {
      box.replaceChildren();
      box.hidden = false;
      window.turnstile.render(box, {
        sitekey: siteKey,
        callback: (token) => {
          box.hidden = true;
          resolve(token);
        },
        "error-callback": () => {
          box.hidden = true;
          reject(new Error("the human check (Turnstile) failed: reload the page to try again"));
        },
      });
    };
    if (window.turnstile) return render();
    const script = el("script", { src: "https://challenges.cloudflare.com/turnstile/v0/api.js?render=explicit", async: "" });
    script.onload = render;
    script.onerror = () => reject(new Error("the human check (Turnstile) could not be loaded"));
    document.head.append(script);
  });
}
