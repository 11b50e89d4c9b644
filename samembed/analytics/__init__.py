"""Analytics without cookies: what embeds' readers do, counted, never who they are.

The events path (docs/architecture.md): the frame's `analytics.js` batches
events and sends them with `navigator.sendBeacon` (text/plain, so no CORS
preflight) to `POST /api/v1/events`, answered on the ASGI fast path by
`collect.handle`; `collect.Counter` counts in memory and a thread per worker
flushes every ANALYTICS_FLUSH_INTERVAL into hourly rollups
(`samembed.repositories.stats`) and daily HyperLogLog sketches of reach
(`hll`, `samembed.repositories.reach`). The studio's dashboard and the stats
API read the rollups (`samembed.analytics.report`). docs/analytics.md says what is
counted and what is never stored.
"""
