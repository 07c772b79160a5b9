"""OpenFlow 1.3 fabric controller: decision logic (fabric) and a thin os-ken app (app, launch)."""
