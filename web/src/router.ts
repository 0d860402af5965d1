// Hash routes: #/runs, #/runs/:id/(map|insights|dashboards|wiring), #/runs/:id/samples/:subset/:sample
// Every segment built from data is percent-encoded (see `path` in api.ts), so a sample id holding
// `/ ? # %` is one segment here; the query of the route starts at the first literal `?`.
// (Its own module, so pages read the route without importing the App that imports them.)
import { useEffect, useState } from "react";
import { unseg } from "./api";

export function routeParts(hash: string): string[] {
  return hash.replace(/^#\/?/, "").split("?")[0].split("/").filter(Boolean).map(unseg);
}

/** The current route (decoded segments and the raw hash), updated on every `hashchange`. */
export function useRoute(): { parts: string[]; hash: string } {
  const read = () => ({ parts: routeParts(window.location.hash), hash: window.location.hash });
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const on = () => setRoute(read());
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return route;
}

/** The query of the current hash route (after its first `?`). */
export function hashQuery(): URLSearchParams {
  const hash = window.location.hash;
  const at = hash.indexOf("?");
  return new URLSearchParams(at < 0 ? "" : hash.slice(at + 1));
}
