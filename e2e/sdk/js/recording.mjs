// The SDK's own transport (`inner`, made by the program's SDK) with a tap that records, per
// envelope, its item types, item counts and the status it got (or the error), into `envelopes`.
// Shared by e2e/sdk/node/send_all.mjs and e2e/sdk/browser/send_all.mjs.

export function recordingTransport(inner, envelopes) {
  return {
    async send(envelope) {
      const items = envelope[1].map(([header]) => header.type);
      // Span and log items are containers: their header says how many they hold.
      const item_counts = envelope[1].map(([header]) => header.item_count ?? 1);
      try {
        const response = await inner.send(envelope);
        envelopes.push({ items, item_counts, status: response.statusCode ?? null });
        return response;
      } catch (error) {
        envelopes.push({ items, item_counts, error: String(error) });
        throw error;
      }
    },
    flush: (timeout) => inner.flush(timeout),
  };
}
