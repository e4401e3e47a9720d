// What the page keeps in sessionStorage: this tab only, gone when it closes (the session is a
// bearer token), and kept across a reload and the round trip to the shop's sign-in.
//  - the session, one for the site: { token, expires_at, user_id, account } (an account session
//    is the shop's sign-in, and serves every sale);
//  - the progress in one sale, for the session's user: { user, joined, ticket, ticketExp, pass,
//    passExp, firstPosition, claimKey, holdId, orderId, waitlisted }.

/** A JSON object under `key`: `value` is changed in place, then `save()`d. */
function stored(key) {
  let value = {};
  try {
    value = JSON.parse(sessionStorage.getItem(key) ?? "{}") ?? {};
  } catch {
    value = {};
  }
  return {
    value,
    save() {
      try {
        sessionStorage.setItem(key, JSON.stringify(value));
      } catch {
        // Storage full or disabled: the page still works, a reload just starts over.
      }
    },
    /** Forgets the given fields (all of them by default). */
    forget(...fields) {
      for (const k of fields.length ? fields : Object.keys(value)) delete value[k];
      this.save();
    },
  };
}

/** The shopper's session (see above). */
export const sessionStore = () => stored("flashsale:session");

/** Everything a session's user has done in a sale: tickets and passes are bound to the user. */
const PROGRESS = ["joined", "ticket", "ticketExp", "pass", "passExp", "firstPosition", "claimKey", "holdId", "orderId", "waitlisted"];

/** This tab's progress in one sale. */
export function saleState(saleId) {
  const s = stored(`flashsale:${saleId}`);
  return Object.assign(s, {
    /** A new attempt in the same sale: a new claim key; the place in line is kept. */
    resetAttempt: () => s.forget("claimKey", "holdId", "orderId", "waitlisted"),
    /** Starts the sale over, for `user` (another session's user cannot use what this one had). */
    startOver(user) {
      s.forget(...PROGRESS, "user");
      if (user) s.value.user = user;
      s.save();
    },
  });
}
