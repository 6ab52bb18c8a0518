// GET /corral/1/events: the job and object changes as Server-Sent Events (src/events/bus.ts),
// filtered by kind and name, resumable with Last-Event-ID (the header, as EventSource sends
// it on reconnect, or `last_event_id`, since a browser sets no header on its first connect).
// Read access as any GET: the route table's default.

import type { IncomingHttpHeaders } from "node:http";
import { EVENT_KINDS, type EventBus, type EventFilter, type EventKind } from "../../events/bus.ts";
import { badRequest } from "../http/errors.ts";
import { queryParam, type QueryArgs } from "../http/query.ts";
import { EventStreamBody, route, type MethodSpec, type RequestContext, type Route } from "../http/routes.ts";

/** More names than this in one filter is a mistake, not a filter. */
const MAX_NAMES = 1000;

export function corralEventRoutes(bus: EventBus): Route[] {
  const listen: MethodSpec = {
    produces: "text/event-stream",
    query: [
      queryParam.list("kinds", `Event kinds, comma-separated or repeated (${EVENT_KINDS.join(", ")})`),
      queryParam.list("names", "Object names, comma-separated or repeated"),
      queryParam.int("last_event_id", "Resume after this event id (as the Last-Event-ID header)"),
    ],
    handle: (ctx) => eventStream(bus, ctx),
  };
  return [route("/corral/1/events", { GET: listen, HEAD: listen })];
}

function eventStream(bus: EventBus, ctx: RequestContext): EventStreamBody {
  const filter = eventFilter(ctx.query);
  const fromQuery = ctx.query.has("last_event_id") ? ctx.query.int("last_event_id") : undefined;
  if (fromQuery !== undefined && fromQuery < 0) throw badRequest("Invalid value for the 'last_event_id' parameter");
  return new EventStreamBody((res, headers, encoding) => {
    const fromHeader = lastEventIdHeader(headers);
    bus.subscribe(res, filter, { resumeAfter: fromHeader === undefined ? fromQuery : fromHeader, gzip: encoding === "gzip" });
  });
}

/** `kinds=job,instance` and `names=a,b` (comma-separated, or the parameter repeated). */
function eventFilter(query: QueryArgs): EventFilter {
  const list = (name: string) => query.list(name).flatMap((v) => v.split(",")).filter((v) => v !== "");
  const given = list("kinds");
  const unknown = given.find((k) => !isEventKind(k));
  if (unknown !== undefined) throw badRequest(`Unknown event kind '${unknown}'; the kinds are ${EVENT_KINDS.join(", ")}`);
  const kinds = given.filter(isEventKind);
  const names = list("names");
  if (names.length > MAX_NAMES) throw badRequest(`At most ${MAX_NAMES} names may be given, not ${names.length}`);
  return {
    kinds: kinds.length > 0 ? new Set(kinds) : undefined,
    names: names.length > 0 ? new Set(names) : undefined,
  };
}

const isEventKind = (kind: string): kind is EventKind => (EVENT_KINDS as readonly string[]).includes(kind);

/**
 * The Last-Event-ID header: a number, or null when it is not one of ours (the stream then
 * starts with a gap event, so the client reloads).
 */
function lastEventIdHeader(headers: IncomingHttpHeaders): number | null | undefined {
  const value = headers["last-event-id"];
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? value[0] : value;
  return /^\d{1,15}$/.test(text.trim()) ? Number(text.trim()) : null;
}
