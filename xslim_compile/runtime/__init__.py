"""What runs at inference time: dispatch, controller, caches, trace. Imports nothing compile-side."""
