// CSS imports of the console's components, in jest: nothing to load.
module.exports = {};
