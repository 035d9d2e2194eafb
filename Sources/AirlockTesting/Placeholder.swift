// Shared test fakes.
