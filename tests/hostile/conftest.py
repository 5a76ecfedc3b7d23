"""The hostile suite: a spell per class of attack on the process and on the spells beside it."""
