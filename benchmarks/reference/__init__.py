"""The project's reference model: a small class-conditional DiT trained on Fashion-MNIST."""
