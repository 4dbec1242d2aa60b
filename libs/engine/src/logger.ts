import pino from 'pino';

/** What the engine logs with (pino's API). Never given message content or patient data. */
export type EngineLogger = Pick<pino.Logger, 'info' | 'warn' | 'error' | 'debug' | 'child'>;

/**
 * JSON lines on stdout (or `destination`). Paths that could carry patient data are redacted
 * as a second line of defence; the engine itself logs ids, counts and codes only.
 */
export function createLogger(
  level = process.env.SINEW_LOG_LEVEL ?? 'info',
  destination?: pino.DestinationStream,
): pino.Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'sinew' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ['body', 'raw', 'payload', 'message.body', 'req.body', 'response'],
      censor: '[redacted]',
    },
    formatters: { level: (label) => ({ level: label }) },
  };
  return destination ? pino(options, destination) : pino(options);
}
