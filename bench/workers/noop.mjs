// The ceiling: the smallest Worker there is, on the same runtime and sockets as flashsale.
export default {
  fetch() {
    return new Response("ok");
  },
};
