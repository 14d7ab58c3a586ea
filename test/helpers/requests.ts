// Building blocks of tests that run requests side by side on the test app
// (test/helpers/app.ts): routes of the test's own, gates that hold a handler
// until the test opens them, and a second client that sends the same cookie.
import type { FastifyInstance } from 'fastify'
import { buildApp, CookieClient, type StartAppExtra, type TestAppOptions } from './app.js'

/** The test app with the routes of `routes` added. */
export function withRoutes (routes: (app: FastifyInstance) => void): StartAppExtra {
  return {
    build: async (options: TestAppOptions): Promise<FastifyInstance> => {
      const app = await buildApp(options)
      routes(app)
      return app
    }
  }
}

export interface Gates {
  /** Resolves once gate `index` is open. */
  wait: (index: number) => Promise<void>
  open: (index: number) => void
  openAll: () => void
}

/**
 * Gates that route handlers wait on. Tests open them all in a `finally`: a
 * request left waiting after a failed assertion would keep app.close() waiting.
 */
export function gates (count: number): Gates {
  const opens: Array<() => void> = []
  const opened = Array.from({ length: count }, () => new Promise<void>((resolve) => { opens.push(resolve) }))
  return {
    wait: async (index) => { await opened[index] },
    open: (index) => { opens[index]?.() },
    openAll: () => { for (const open of opens) open() }
  }
}

/** A client that sends the same cookie as `client` does now (to `base`), and keeps its own from then on. */
export function copyOf (client: CookieClient, base = client.base): CookieClient {
  const copy = new CookieClient(base)
  for (const [name, value] of client.cookies) copy.cookies.set(name, value)
  return copy
}
