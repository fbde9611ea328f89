// `log`: lines in the host's log, tagged by the host with the plugin, Page
// and event (the host caps the text per event at `limits.log_bytes`).
// `console.log` and `console.error` write to the plugin's stdout and
// stderr instead, which the host does not log.

import * as host from "switchboard:plugin/log@0.2.0";

/** `trace`, `debug`, `info`, `warn` or `error`. */
export type Level = host.Level;

/** Writes `message` at `level`. */
export function log(level: Level, message: string): void {
  host.log(level, message);
}
export const trace = (message: string): void => log("trace", message);
export const debug = (message: string): void => log("debug", message);
export const info = (message: string): void => log("info", message);
export const warn = (message: string): void => log("warn", message);
export const error = (message: string): void => log("error", message);
