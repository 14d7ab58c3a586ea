// A small in-process server speaking the memcached text protocol, for the demo
// on machines without memcached. It implements what fastify-msm uses: get,
// set, add, touch, delete, version. Not for production: no memory limit, no
// eviction. (The npm candidates we tried did not work: memcached-njs ships
// without its build, and nodecached keeps a separate store per connection.)
import { createServer } from 'node:net'

const THIRTY_DAYS = 60 * 60 * 24 * 30

export function startEmbeddedMemcached (port) {
  const items = new Map()
  const expiresAt = (exptime) => {
    const seconds = Number(exptime)
    if (seconds === 0) return Infinity
    return seconds > THIRTY_DAYS ? seconds * 1000 : Date.now() + seconds * 1000
  }
  const live = (key) => {
    const item = items.get(key)
    if (item === undefined) return undefined
    if (item.expiresAt <= Date.now()) {
      items.delete(key)
      return undefined
    }
    return item
  }

  const server = createServer((socket) => {
    let buffer = Buffer.alloc(0)
    socket.on('error', () => {})
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk])
      for (;;) {
        const end = buffer.indexOf('\r\n')
        if (end === -1) return
        const line = buffer.subarray(0, end).toString('latin1')
        const [command, key, flags, exptime, bytes] = line.split(' ')
        if (['set', 'add', 'replace'].includes(command)) {
          const length = Number(bytes)
          if (buffer.length < end + 2 + length + 2) return // wait for the data block
          const data = buffer.subarray(end + 2, end + 2 + length)
          buffer = buffer.subarray(end + 2 + length + 2)
          const exists = live(key) !== undefined
          if ((command === 'add' && exists) || (command === 'replace' && !exists)) {
            socket.write('NOT_STORED\r\n')
          } else {
            items.set(key, { flags, data: Buffer.from(data), expiresAt: expiresAt(exptime) })
            socket.write('STORED\r\n')
          }
          continue
        }
        buffer = buffer.subarray(end + 2)
        const args = line.split(' ').slice(1)
        switch (command) {
          case 'get': case 'gets': {
            for (const name of args) {
              const item = live(name)
              if (item !== undefined) {
                socket.write(`VALUE ${name} ${item.flags} ${item.data.length}${command === 'gets' ? ' 1' : ''}\r\n`)
                socket.write(item.data)
                socket.write('\r\n')
              }
            }
            socket.write('END\r\n')
            break
          }
          case 'touch': {
            const item = live(key)
            if (item === undefined) socket.write('NOT_FOUND\r\n')
            else {
              item.expiresAt = expiresAt(flags)
              socket.write('TOUCHED\r\n')
            }
            break
          }
          case 'delete':
            socket.write(items.delete(key) ? 'DELETED\r\n' : 'NOT_FOUND\r\n')
            break
          case 'version':
            socket.write('VERSION embedded-demo\r\n')
            break
          default:
            socket.write('ERROR\r\n')
        }
      }
    })
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve(server))
  })
}
