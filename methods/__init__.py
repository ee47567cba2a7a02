"""Weak-to-strong methods, one file each; registered in w2s_bench/registry.py."""
