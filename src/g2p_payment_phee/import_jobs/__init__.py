"""Large imports as jobs: the uploaded file is kept in the database until a worker imports it."""
