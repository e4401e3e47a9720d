// The card form when payments go to Stripe: Stripe.js (loaded from js.stripe.com, as Stripe
// requires) and its Payment Element, which collects the card in Stripe's own frame. The page never
// sees the card number: it gets a PaymentMethod id (pm_…) to pay the hold with, and completes
// 3-D Secure with the hold's client secret when the payment asks for it. The page's CSP
// (public/_headers) allows Stripe's origins.

let loading = null;

/** Stripe.js, loaded once. */
function stripeJs() {
  loading ??= new Promise((resolve, reject) => {
    if (window.Stripe) return resolve(window.Stripe);
    const script = document.createElement("script");
    script.src = "https://js.stripe.com/v3/";
    script.onload = () => (window.Stripe ? resolve(window.Stripe) : reject(new Error("Stripe.js did not load")));
    script.onerror = () => {
      loading = null;
      reject(new Error("Stripe.js could not be loaded"));
    };
    document.head.append(script);
  });
  return loading;
}

/**
 * Mounts the Payment Element into `box` for `amount` (minor units) in `currency`, and returns
 * { method(): Promise<string> (a PaymentMethod id), authenticate(clientSecret): Promise<void> }.
 */
export async function cardForm(publishableKey, box, { amount, currency }) {
  const Stripe = await stripeJs();
  const stripe = Stripe(publishableKey);
  const elements = stripe.elements({ mode: "payment", amount, currency: currency.toLowerCase(), paymentMethodCreation: "manual" });
  const element = elements.create("payment", { layout: "tabs" });
  element.mount(box);
  return {
    async method() {
      const submitted = await elements.submit();
      if (submitted.error) throw new Error(submitted.error.message);
      const { paymentMethod, error } = await stripe.createPaymentMethod({ elements });
      if (error) throw new Error(error.message);
      return paymentMethod.id;
    },
    async authenticate(clientSecret) {
      const { error } = await stripe.handleNextAction({ clientSecret });
      if (error) throw Object.assign(new Error(error.message), { authentication: true });
    },
    unmount: () => element.unmount(),
  };
}
