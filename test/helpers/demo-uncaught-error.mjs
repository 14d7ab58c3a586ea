// Preloaded into demo/demo.mjs by demo.test.ts (node --import): once the demo
// is up, throws an error nobody catches, as a bug in a route or timer would.
const log = console.log
console.log = (...args) => {
  log(...args)
  if (String(args[0]).startsWith('Open one')) {
    setImmediate(() => { throw new Error('simulated uncaught error') })
  }
}
