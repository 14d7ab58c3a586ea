// The public types, in one place: what an app configures, stores, reads back
// and monitors. Every module of lib/ takes its shared types from here.
export type * from './session-data.js'
export type * from './options.js'
export type * from './stats.js'
export type * from './metrics.js'
export type * from './decorator.js'
