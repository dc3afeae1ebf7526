"""What every capability's routes use: request dependencies, access, pages, words, charts."""
