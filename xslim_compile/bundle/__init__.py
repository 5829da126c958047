"""Deployment bundles: the variant graphs of an optimized module as ONNX files that share one weights
file, and a manifest. `write.py` (torch, onnx) writes them; `manifest.py` (neither torch nor numpy)
reads and checks them, for runners without torch. Named `bundle`, not `export`, so that it does not
shadow `xs.export`.
"""
