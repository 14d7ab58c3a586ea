import { defineConfig } from 'vitepress'

export default defineConfig({
  title: 'fastify-msm',
  description: 'Fastify sessions in memcached with a primary and a backup node',
  cleanUrls: false,
  // Internal links are checked at build time: a dead link fails `npm run docs:build`
  ignoreDeadLinks: false,
  themeConfig: {
    nav: [
      { text: 'Guide', link: '/getting-started' },
      { text: 'Options', link: '/options' },
      { text: 'API reference', link: '/api/index.html', target: '_self' }
    ],
    sidebar: [
      {
        text: 'Guide',
        items: [
          { text: 'Getting started', link: '/getting-started' },
          { text: 'Configuration', link: '/options' },
          { text: 'How it works', link: '/how-it-works' },
          { text: 'Storage layout', link: '/storage' },
          { text: 'Non-sticky vs sticky', link: '/sticky' },
          { text: 'Locking', link: '/locking' },
          { text: 'Failover', link: '/failover' },
          { text: 'Serialization', link: '/serialization' },
          { text: 'Monitoring', link: '/monitoring' },
          { text: 'Security', link: '/security' },
          { text: 'Benchmarks', link: '/benchmarks' }
        ]
      },
      {
        text: 'Reference',
        items: [
          { text: 'Migrating from @fastify/session', link: '/migrating' },
          { text: 'Changelog', link: '/changelog' },
          { text: 'Errors', link: '/errors' },
          { text: 'Dependencies', link: '/dependencies' },
          { text: 'FAQ and troubleshooting', link: '/faq' },
          { text: 'Contributing and tests', link: '/contributing' },
          { text: 'API reference (TypeDoc)', link: '/api/index.html', target: '_self' }
        ]
      }
    ],
    search: { provider: 'local' }
  }
})
