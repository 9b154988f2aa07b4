INSERT INTO orders (customer, code, amount) SELECT 'c' || g, 'ORD-' || g, g * 1.25 FROM generate_series(1, 1000) g;
