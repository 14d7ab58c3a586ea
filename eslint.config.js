'use strict'

module.exports = require('neostandard')({
  ts: true,
  ignores: ['dist/**', '.previous-release/**', 'coverage/**', '.stryker-tmp*/**', 'reports/**', 'docs/.vitepress/dist/**', 'docs/.vitepress/cache/**', 'docs/public/api/**']
})
