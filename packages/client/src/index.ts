// @taskgate/client — the client SDK arrives in a later issue; the workspace exists now so the
// repository layout does not churn.
export const CLIENT_VERSION = '0.1.0';
