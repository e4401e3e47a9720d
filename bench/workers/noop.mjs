// The ceiling: the smallest Worker there is, on the same runtime and sockets as flashsale.
// `/?bytes=N` answers N bytes instead of "ok" (a row sent another route's request can then get
// an answer of that route's size too).
const sized = new Map();

export default {
  fetch(request) {
    const at = request.url.indexOf("?bytes=");
    if (at < 0) return new Response("ok");
    const n = Number(request.url.slice(at + 7));
    let body = sized.get(n);
    if (body === undefined) sized.set(n, (body = "x".repeat(n)));
    return new Response(body);
  },
};
